set(SW_TEST_EXTRA_LINKS sw_tools sw_pay sw_purchase sw_spend)
