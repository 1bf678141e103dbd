// EK certificate checks per manifest line through an intermediate uploaded with the line
// (provisioning/manifest/chain.ts), against the baseline of a certificate issued by an anchor on
// the DER fast path, measured in the same run with P-256 CAs made by openssl. Both are on one
// thread; each is mostly one ECDSA verification.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IntermediatePaths } from '../../provisioning/manifest/chain.ts';
import { TrustStore } from '../../provisioning/manifest/trust.ts';
import { parseCertificate } from '../../provisioning/manifest/x509.ts';
import { issue, makeRoot } from '../provisioning/openssl-ca.ts';
import { median, withBaseline, type BenchSuite } from './report.ts';

export const run: BenchSuite = async (report, { quick }) => {
  const dir = await mkdtemp(join(tmpdir(), 'btn-bench-ek-chain-'));
  try {
    const root = makeRoot(dir, 'root', '/CN=Bench Root');
    const intermediate = issue(dir, 'int', root, { subject: '/CN=Bench Intermediate' });
    const pub = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const viaChain = issue(dir, 'via-chain', intermediate, { subject: '/CN=EK via chain', publicKeyPem: pub }).der;
    const direct = issue(dir, 'direct', root, { subject: '/CN=EK direct', publicKeyPem: pub }).der;
    const trust = TrustStore.fromPem(root.pem);
    const now = Date.now();
    const paths = new IntermediatePaths(trust, now);
    const n = quick ? 500 : 5000;
    const perLine = (fn: () => void): number => {
      const rounds: number[] = [];
      for (let r = 0; r < 3; r++) {
        const t = process.hrtime.bigint();
        for (let i = 0; i < n; i++) fn();
        rounds.push(Number(process.hrtime.bigint() - t) / n / 1000);
      }
      return median(rounds);
    };
    const chained = perLine(() => {
      if (paths.checkParsed(parseCertificate(viaChain)!, [intermediate.der]) !== null) throw new Error('chain path refused');
    });
    const anchored = perLine(() => {
      if (trust.checkDer(direct, now)?.failure !== null) throw new Error('anchor path refused');
    });
    report(withBaseline('EK certificate via uploaded intermediate (P-256)', chained, 'us/line', 'issued by an anchor', anchored));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};
