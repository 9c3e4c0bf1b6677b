"""The virtual Quectel module, in parts (tools/virtual_module.py is its entry point)."""
