import { transportContract } from './transport-contract.ts';
import { startMosquitto } from './mosquitto.ts';

transportContract('a real mosquitto (MQTT 5)', 5, () => startMosquitto());
