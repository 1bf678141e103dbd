// The words the status page gives for a broker the node cannot reach: the TLS and network error
// codes Node reports, with the code kept for a technician; anything else as Node said it.
import { describe, expect, it } from 'vitest';
import { connectFailure } from '../../../firmware/transport/connect-failure.ts';

const err = (message: string, code?: string): Error & { code?: string } => Object.assign(new Error(message), code === undefined ? {} : { code });

describe('connectFailure', () => {
  it('names the TLS faults a household or installer can fix', () => {
    expect(connectFailure(err("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID')))
      .toBe("TLS: the broker's certificate is for another name than the broker URL's [ERR_TLS_CERT_ALTNAME_INVALID]");
    for (const code of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']) {
      expect(connectFailure(err('x', code))).toMatch(/not from the network's broker CA \(brokerCa\)/);
    }
    expect(connectFailure(err('certificate has expired', 'CERT_HAS_EXPIRED'))).toMatch(/expired \(or this device's clock is wrong\)/);
  });

  it('names the network faults, and keeps an unknown error as it came, capped', () => {
    expect(connectFailure(err('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'))).toMatch(/^nothing answers at the broker address .* \[ECONNREFUSED\]$/);
    expect(connectFailure(err('getaddrinfo ENOTFOUND x', 'ENOTFOUND'))).toMatch(/host name is not found/);
    expect(connectFailure(err('connack timeout'))).toBe('the broker does not answer the MQTT CONNECT (timed out)');
    expect(connectFailure(err('something new', 'ESOMETHING'))).toBe('something new');
    expect(connectFailure(err('y'.repeat(500)))).toHaveLength(200);
  });
});
