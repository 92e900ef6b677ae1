"""The exam builder: source files -> normalised items -> books -> a built exam on disk."""
