"""Mail that comes in: bytes to a parsed mail, what kind it is, which ticket it joins,
what a person wrote in it and in which language."""
