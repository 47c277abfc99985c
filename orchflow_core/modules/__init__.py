"""The module system: manifest-described folders that contribute methods, commands, config,
agents, modes, rules, templates and test adapters (doc/modules.md)."""
