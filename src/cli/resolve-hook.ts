/**
 * Module hooks (module.register, for Node before registerHooks): the specifier 'hbsys'
 * resolves to this package, so that a script run by `hbsys check` and the CLI share one
 * hbsys, whatever the script's own node_modules hold.
 */

let indexUrl = '';

export function initialize(data: { indexUrl: string }): void {
  indexUrl = data.indexUrl;
}

interface ResolveResult {
  url: string;
  shortCircuit?: boolean;
  format?: string | null;
}

export function resolve(
  specifier: string,
  context: unknown,
  next: (specifier: string, context: unknown) => ResolveResult | Promise<ResolveResult>,
): ResolveResult | Promise<ResolveResult> {
  if (specifier === 'hbsys') return { url: indexUrl, shortCircuit: true, format: 'module' };
  return next(specifier, context);
}
