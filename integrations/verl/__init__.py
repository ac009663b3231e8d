"""The drawing environment as a verl tool, tool parser, reward and dataset profile."""
