/**
 * nrlint (node-red/nrlint) over every example flow with the committed .nrlintrc.js: any finding
 * (overlapping or off-grid nodes, loops, unconnected HTTP nodes, unnamed functions...) fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../support/node-red';

describe('nrlint over flows/', function () {
  this.timeout(60000);
  const flowsDir = join(packageRoot, 'flows');
  const flows = readdirSync(flowsDir).filter((f) => f.endsWith('.json'));

  it('has flows to lint', () => assert.ok(flows.length > 0));

  for (const flow of flows) {
    it(`${flow} has no nrlint findings`, () => {
      const result = spawnSync(
        process.execPath,
        [require.resolve('nrlint/bin/nrlint.js', { paths: [packageRoot] }), '-c', join(packageRoot, '.nrlintrc.js'), join(flowsDir, flow)],
        { encoding: 'utf8' },
      );
      assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    });
  }
});
