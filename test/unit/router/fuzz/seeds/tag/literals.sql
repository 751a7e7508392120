SELECT E'\'', U&'x', $1, 1.5e-3 -- c
 FROM "T"