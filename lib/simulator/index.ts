/** The data simulator engine shared by the pipelines (pure; the Node-RED node wraps it). */
export { Simulator, DEFAULT_TEMPLATE } from './simulator';
export type { IntervalSpec, Reading, SeriesSpec, SimulatorConfig, SimulatorStats, ValueSpec } from './simulator';
export { compileTemplate } from './template';
export type { CompiledTemplate, TemplateVariables } from './template';
export { createRandom, randomSeed } from './random';
export type { Random } from './random';
export { SimulatorError } from './errors';
export type { SimulatorErrorCode } from './errors';
export { SENSORS, rollingAveragesConfig, sensorsConfig } from './presets';
export type { SensorDefinition } from './presets';
export { simulatorConfigFrom, isEnabled, parseSeriesList, parseTemplate, presetSensors } from './node-config';
export type { SimulatorNodeProperties, SimulatorPreset } from './node-config';
