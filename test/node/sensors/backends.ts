/** The two databases every sensors node test runs against: a SQLite file and a throwaway MariaDB database. */
import { join } from 'node:path';
import { createTestMysqlDatabase, requireService, type TestMysqlDatabase } from '../../support/services';
import { makeTempDir, removeTempDir } from '../../support/tmp';

export interface Backend {
  name: string;
  url(): string;
  setup(this: Mocha.Context): Promise<void>;
  teardown(): Promise<void>;
}

export function backends(file: string): Backend[] {
  let dir = '';
  let mysql: TestMysqlDatabase | undefined;
  return [
    {
      name: 'SQLite',
      url: () => `sqlite:${join(dir, file)}`,
      setup: async () => {
        dir = makeTempDir();
      },
      teardown: async () => removeTempDir(dir),
    },
    {
      name: 'MariaDB',
      url: () => mysql!.url,
      setup: async function (this: Mocha.Context) {
        await requireService(this, 'mysql');
        mysql = await createTestMysqlDatabase();
      },
      teardown: async () => mysql?.drop(),
    },
  ];
}
