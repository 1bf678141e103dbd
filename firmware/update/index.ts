// Public API of over-the-air updates: install a signed RAUC bundle into the other slot, and the
// per-boot health check that keeps it (mark-good) or rolls it back (mark-bad, restart).
export { UpdateError, type UpdateErrorCode } from './errors.ts';
export { checkVersion, compareVersions, readVersionFile, VERSION_FILE, VERSION_PATTERN } from './version.ts';
export { execRunner, raucMessage, Rauc, type BundleInfo, type CommandRunner, type RaucOptions, type SlotInfo, type SystemInfo } from './rauc.ts';
export { FLOOR_FILE, OUTCOME_FILE, PENDING_FILE, SLOTS_FILE, UpdateFiles, type PendingUpdate, type SlotsRecord, type UpdateOutcome } from './state-files.ts';
export { installUpdate, MAX_BUNDLE_BYTES, slotsRecord, type InstallOptions, type Installed, type UpdateDeps } from './install.ts';
export { checkHealth, DEFAULT_HEALTH_DEADLINE_MS, judgeHealth, type Health, type HealthDeps, type HealthResult } from './health.ts';
export { RAUC_SYSTEM_CONF, systemCompatible, systemUpdateDeps, type SystemUpdateOptions } from './system.ts';
export { readSoftware, softwareKnown, softwareView } from './software.ts';
export { applyRequest, DOWNLOAD_DIR, readRequest, REQUEST_FILE, writeRequest, type InstallRequest } from './request.ts';
export { AnnouncementFollower, download, installMoment, type FollowerOptions, type FollowerState } from './announcements.ts';
