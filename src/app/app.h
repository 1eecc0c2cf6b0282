// sw::app — the whole server as a function, so the production binary and the interop test server (which adds
// test-only tools in tests/interop/) share every line of start-up. Returns the process exit code.
#pragma once

int sw_main(int argc, char** argv);
