-- The distinct (src, dst) pairs of the bound `conns`.
SELECT DISTINCT src, dst FROM conns
