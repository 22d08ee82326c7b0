"""`drctl diagram`: a stack's topology as a picture. The rooms: `topology` (the facts, from the offline preview and
the config), `dot` (the DOT text), `cli` (the subcommand, which lets Graphviz's `dot` draw it)."""

from drctl.diagram.dot import budget_caption, to_dot
from drctl.diagram.topology import Server, SiteNode, TableNode, Topology, topology_from

__all__ = ["Server", "SiteNode", "TableNode", "Topology", "budget_caption", "to_dot", "topology_from"]
