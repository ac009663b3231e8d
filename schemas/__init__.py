"""Records and output formats shared by every stage."""
