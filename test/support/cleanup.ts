/** Jest setup file (`setupFilesAfterEnv`): every test file removes the temp directories it made. */
import { removeTempDirs } from './temp-dirs';

afterAll(() => removeTempDirs());
