// Why the node could not reach its broker, in words a household (or its installer) can act on,
// for the status page: the broker's certificate is for another name or from another CA, nothing
// answers at the address, the name is not found. A broker that answers and refuses (CONNACK) is
// counted apart, as a refusal (mqtt-connection.ts).

const BY_CODE: Readonly<Record<string, string>> = {
  ERR_TLS_CERT_ALTNAME_INVALID: "TLS: the broker's certificate is for another name than the broker URL's",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "TLS: the broker's certificate is not from the network's broker CA (brokerCa)",
  UNABLE_TO_GET_ISSUER_CERT: "TLS: the broker's certificate is not from the network's broker CA (brokerCa)",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "TLS: the broker's certificate is not from the network's broker CA (brokerCa)",
  SELF_SIGNED_CERT_IN_CHAIN: "TLS: the broker's certificate is not from the network's broker CA (brokerCa)",
  DEPTH_ZERO_SELF_SIGNED_CERT: "TLS: the broker's certificate is self-signed, not from the network's broker CA (brokerCa)",
  CERT_HAS_EXPIRED: "TLS: the broker's certificate has expired (or this device's clock is wrong)",
  CERT_NOT_YET_VALID: "TLS: the broker's certificate is not valid yet (or this device's clock is wrong)",
  ECONNREFUSED: 'nothing answers at the broker address (broker down, or wrong port)',
  ENOTFOUND: "the broker's host name is not found (DNS, or a typing error in the URL)",
  EAI_AGAIN: "the broker's host name cannot be looked up now (no network or DNS)",
  EHOSTUNREACH: 'the broker address cannot be reached (no route: network down?)',
  ENETUNREACH: 'no network (is the cable or Wi-Fi connected?)',
  ETIMEDOUT: 'the broker does not answer (timed out)',
  ECONNRESET: 'the broker closed the connection (for a TLS broker: is the URL mqtts://?)',
};

/** What went wrong, in words, with the code kept for the technician; at most 200 characters. */
export function connectFailure(err: Error & { readonly code?: unknown }): string {
  const code = typeof err.code === 'string' ? err.code : '';
  const words = BY_CODE[code] ?? (/connack timeout/i.test(err.message) ? 'the broker does not answer the MQTT CONNECT (timed out)' : err.message);
  return (code === '' || words === err.message ? words : `${words} [${code}]`).slice(0, 200);
}
