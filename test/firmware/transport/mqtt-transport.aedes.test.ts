import { transportContract } from './transport-contract.ts';
import { startBroker, type BrokerHandle } from '../../../firmware/transport/index.ts';

// aedes 1.2 refuses MQTT 5: the transport must fall back to 3.1.1 by itself.
transportContract('the in-process aedes broker (MQTT 3.1.1 fallback)', 4, async () => {
  let b: BrokerHandle = await startBroker();
  const port = b.port;
  let running = true;
  return {
    url: b.url,
    stop: async () => { if (running) { running = false; await b.close(); } },
    start: async () => { if (!running) { b = await startBroker({ port }); running = true; } },
    destroy: async () => { if (running) { running = false; await b.close(); } },
  };
});
