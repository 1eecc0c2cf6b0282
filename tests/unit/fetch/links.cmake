# The fetcher, plus cpp-httplib for the tests' own HTTP(S) servers (the fetcher itself does not use it).
set(SW_TEST_EXTRA_LINKS sw_fetch PkgConfig::HTTPLIB)
