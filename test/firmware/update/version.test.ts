// Version order of bundles and slots: semantic precedence with pre-releases below releases.
import { describe, expect, it } from 'vitest';
import { checkVersion, compareVersions } from '../../../firmware/update/index.ts';

describe('update versions', () => {
  it('orders releases numerically, pre-releases below their release, build metadata equal', () => {
    const ordered = ['0.9.9', '0.10.0-rc1', '0.10.0-rc2', '0.10.0-rc10', '0.10.0', '0.10.0.1', '0.10.1', '1.0.0~beta', '1.0.0'];
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) expect(Math.sign(compareVersions(ordered[i]!, ordered[j]!)), `${ordered[i]} vs ${ordered[j]}`).toBe(Math.sign(i - j));
    }
    expect(compareVersions('1.2.3+git5', '1.2.3')).toBe(0);
  });

  it('refuses what is not a version, naming what it was', () => {
    expect(() => checkVersion('1.2', 'the bundle version')).toThrow(/the bundle version must be a semantic version/);
    expect(() => checkVersion('1.2.3; reboot', 'x')).toThrow(/ERR_UPDATE_VERSION|semantic/);
    expect(() => compareVersions('1.2.3', 'latest')).toThrow(/semantic/);
  });
});
