"""The invitation object and its one accept path; each kind registers its acceptor."""
