/** A JSON object (not null, not a primitive): what a body or a stream event must be before its fields are read. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
