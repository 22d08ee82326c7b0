"""`drctl diagram`: a stack's topology as a picture."""
