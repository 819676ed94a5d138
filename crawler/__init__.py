"""A reference web crawler whose fetch strategies are pluggable and measured end to end."""
