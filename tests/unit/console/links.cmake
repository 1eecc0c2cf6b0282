set(SW_TEST_EXTRA_LINKS sw_console sw_tools sw_pay sw_purchase sw_spend sw_approve)
