"""Item pipelines of the Sa Đéc archive: clean → validate → store (see ITEM_PIPELINES)."""
