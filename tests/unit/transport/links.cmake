# The HTTP transport is linked in statically (sw_transport_http), as the tests and tools that link everything do;
# test_http.cpp references its entry point so the linker takes http.cpp out of the archive.
set(SW_TEST_EXTRA_LINKS sw_transport_http)
