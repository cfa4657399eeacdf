"""Spot's DNS and proxy suspicious connects and RITA-class DNS tunnelling, over the
normalised `dns` and `http` tables (Zeek dns.log / http.log)."""
