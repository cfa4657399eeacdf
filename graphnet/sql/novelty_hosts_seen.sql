-- Every host of the window's combinations (`novelty_combos`), either end.
SELECT src AS host FROM novelty_combos UNION SELECT dst FROM novelty_combos
