"""Spiders of the Sa Đéc archive: ``sadec`` is the only one."""
