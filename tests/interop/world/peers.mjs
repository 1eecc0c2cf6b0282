// Re-exports the third-party peers for scripts that live outside tests/interop (the benchmarks in
// tests/bench), so bare package names resolve against tests/interop/node_modules.
export { Client } from '@modelcontextprotocol/sdk/client/index.js';
export { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
export const albySdk = () => import('@getalby/sdk');
