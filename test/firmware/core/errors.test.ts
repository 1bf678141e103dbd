// The one coded-error base: every area's error is a CodedError with its own name and code, and
// toObject() gives one flat shape for logs.
import { describe, expect, it } from 'vitest';
import { CodedError } from '../../../firmware/core/errors.ts';
import { UsageError } from '../../../firmware/core/cli-args.ts';
import { ActivationError } from '../../../firmware/activation/errors.ts';
import { AgentError } from '../../../firmware/agent/errors.ts';
import { BoardConfigError } from '../../../firmware/board/index.ts';
import { RunConfigError } from '../../../firmware/cli/run-config.ts';
import { DevnetError } from '../../../firmware/devnet/errors.ts';
import { ChainError } from '../../../firmware/protocol/chain/errors.ts';
import { ProtocolError } from '../../../firmware/protocol/errors.ts';
import { RegistrarApiError } from '../../../firmware/protocol/registrar-api/errors.ts';
import { SealingError } from '../../../firmware/sealing/errors.ts';
import { StatusError } from '../../../firmware/status/errors.ts';
import { TelemetryError } from '../../../firmware/telemetry/errors.ts';
import { FrameError, TransportError } from '../../../firmware/transport/errors.ts';
import { ProvisioningError } from '../../../provisioning/errors.ts';
import { FactoryError } from '../../../provisioning/factory/errors.ts';
import { TpmArgumentError, TpmError, TpmRcError } from '../../../tpm/errors.ts';

describe('CodedError', () => {
  it('carries code, message, detail and cause, and toObject() is flat', () => {
    const cause = new Error('disk');
    const e = new CodedError('ERR_X', 'went wrong', { file: '/a' }, { cause });
    expect(e).toBeInstanceOf(Error);
    expect([e.name, e.code, e.message, e.cause]).toEqual(['CodedError', 'ERR_X', 'went wrong', cause]);
    expect(e.toObject()).toEqual({ name: 'CodedError', code: 'ERR_X', message: 'went wrong', file: '/a' });
    expect(new CodedError('ERR_Y', 'm').toObject()).toEqual({ name: 'CodedError', code: 'ERR_Y', message: 'm' });
  });

  it('every area error extends it, keeping its name, code and own fields', () => {
    const cases: [CodedError, string, string][] = [
      [new UsageError('bad flag'), 'UsageError', 'ERR_USAGE'],
      [new ActivationError('ERR_ACTIVATION_NOT_FILED', 'm', { status: 404 }), 'ActivationError', 'ERR_ACTIVATION_NOT_FILED'],
      [new AgentError('ERR_AGENT_STATE', 'm'), 'AgentError', 'ERR_AGENT_STATE'],
      [new BoardConfigError('b.json', [{ field: 'x', message: 'y' }]), 'BoardConfigError', 'ERR_BOARD_CONFIG'],
      [new RunConfigError('c.json', ['p']), 'RunConfigError', 'ERR_RUN_CONFIG'],
      [new DevnetError('ERR_DEVNET_OPTIONS', 'm'), 'DevnetError', 'ERR_DEVNET_OPTIONS'],
      [new ChainError('ERR_CHAIN_MALFORMED', 'm', 'height'), 'ChainError', 'ERR_CHAIN_MALFORMED'],
      [new ProtocolError('ERR_PROTOCOL_MALFORMED', 'm', 'version'), 'ProtocolError', 'ERR_PROTOCOL_MALFORMED'],
      [new RegistrarApiError('ERR_REGISTRAR_REFUSED', 'm', { status: 400 }), 'RegistrarApiError', 'ERR_REGISTRAR_REFUSED'],
      [new SealingError('ERR_JOURNAL_LOCKED', 'm', { lock: 'l' }), 'SealingError', 'ERR_JOURNAL_LOCKED'],
      [new StatusError('ERR_STATUS_FILE', 'm'), 'StatusError', 'ERR_STATUS_FILE'],
      [new TelemetryError('ERR_TELEMETRY_SAMPLE', 'm'), 'TelemetryError', 'ERR_TELEMETRY_SAMPLE'],
      [new TransportError('ERR_TRANSPORT_LINK', 'm', { reason: 'idle' }), 'TransportError', 'ERR_TRANSPORT_LINK'],
      [new FrameError('oversize', 'm'), 'FrameError', 'ERR_BTNCMD_FRAME'],
      [new ProvisioningError('ERR_PROV_NOT_FOUND', 'm', 'id'), 'ProvisioningError', 'ERR_PROV_NOT_FOUND'],
      [new FactoryError('ERR_FACTORY_TPM', 'm'), 'FactoryError', 'ERR_FACTORY_TPM'],
      [new TpmError('ERR_TPM_CLOSED', 'm'), 'TpmError', 'ERR_TPM_CLOSED'],
      [new TpmArgumentError('m'), 'TpmArgumentError', 'ERR_TPM_ARGUMENT'],
    ];
    for (const [e, name, code] of cases) {
      expect(e).toBeInstanceOf(CodedError);
      expect(e).toBeInstanceOf(Error);
      expect([e.name, e.code]).toEqual([name, code]);
      expect(e.toObject()).toMatchObject({ name, code, message: e.message });
    }
    expect(new FrameError('oversize', 'm')).toBeInstanceOf(TransportError);
    expect(new TpmRcError(0x1c4, 'Esys_Sign', 'x')).toBeInstanceOf(TpmError);
    // Own fields stay where callers read them, and reach the log object too.
    expect(new ChainError('ERR_CHAIN_MALFORMED', 'm', 'height').field).toBe('height');
    expect(new ActivationError('ERR_ACTIVATION_NOT_FILED', 'm', { status: 404, rootCode: 'R' }).details.rootCode).toBe('R');
    expect(new SealingError('ERR_JOURNAL_LOCKED', 'm', { lock: 'l' }).toObject()).toMatchObject({ lock: 'l' });
    expect(new BoardConfigError('b.json', []).toObject()).toMatchObject({ file: 'b.json', problems: [] });
    expect(new ProtocolError('ERR_PROTOCOL_MALFORMED', 'm').toObject()).not.toHaveProperty('field');
  });
});
