"""The SQL statements of the analytical engine (package data: `<name>.sql`, run by name by the
archive door). Standard SQL over the tables the archive binds (`conns`, `history`, ...)."""
