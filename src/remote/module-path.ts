// Where a sibling module of this folder is: compiled (.js) in the package,
// TypeScript (.ts) under tsx in tests and development.
export function siblingModule(name: string): URL {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, import.meta.url);
}
