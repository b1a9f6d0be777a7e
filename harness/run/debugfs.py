"""The debugfs files the harness reads in the guest (Linux 7.3, and the series under test)."""

DEBUGFS = "/sys/kernel/debug"
PAGE_OWNER = f"{DEBUGFS}/page_owner"
PAGE_OWNER_STACKS = f"{DEBUGFS}/page_owner_stacks"
SHOW_STACKS = f"{PAGE_OWNER_STACKS}/show_stacks"
STACKS_HANDLES = f"{PAGE_OWNER_STACKS}/show_stacks_handles"
SWAP_PAGE_OWNER = f"{DEBUGFS}/swap_page_owner"  # the page_owner swap series
SWAP_PAGE_OWNER_LOST = f"{DEBUGFS}/swap_page_owner_lost"  # records not stored (allocation failed)
SWAP_PAGE_OWNER_MISMATCHED = f"{DEBUGFS}/swap_page_owner_mismatched"  # v2: subpages given another record
ZSWAP = f"{DEBUGFS}/zswap"
