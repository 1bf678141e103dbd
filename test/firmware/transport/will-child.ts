// Child process for the last-will test: connects a transport and reports when online; the test
// kills it with SIGKILL so the broker, not the transport, has to announce it offline.
import { createMqttTransport } from '../../../firmware/transport/index.ts';

const [url, nodeId, prefix] = process.argv.slice(2) as [string, string, string];
const t = createMqttTransport({ url, nodeId, clientId: `will-${nodeId}`, prefix });
t.on('state', (s: string) => { if (s === 'online') process.stdout.write(`online ${t.protocolVersion}\n`); });
