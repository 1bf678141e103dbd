// A TCP port on 127.0.0.1 that was free a moment ago, for servers a test starts (one home: firmware/core).
export { freePort } from '../firmware/core/free-port.ts';
