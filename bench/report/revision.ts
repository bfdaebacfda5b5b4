import { execFileSync } from 'node:child_process';
import { ROOT } from '../paths';

/** The commit measured, and whether src/ had uncommitted changes: the figures belong to that code. */
export function describeRevision(): string {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const commit = git('rev-parse', '--short', 'HEAD');
    const dirty = git('status', '--porcelain', '--', 'src').length > 0;
    return `commit ${commit}${dirty ? ', with uncommitted changes in src/' : ''}`;
  } catch {
    return 'an unknown commit (no git here)';
  }
}
