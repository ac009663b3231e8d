"""The stage registry (cli.stages) and the command line (cli.main) above every package they wire."""
