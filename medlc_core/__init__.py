"""Ground modules every medlc package may import: provenance, cache paths, atomic writes,
the results store layout, and where models come from. They import nothing else of
medlc's, so imports point down."""
