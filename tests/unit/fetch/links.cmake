set(SW_TEST_EXTRA_LINKS sw_fetch)
