/**
 * Testing Library's findBy… queries and waitFor give up after 1 s by default. The renderer tests wait on
 * a real engine (a run resuming, a worker starting), which on a busy machine takes longer: a resumed
 * rounds loop once missed its Cancel button by that second on a fresh clone. As everywhere in the suite,
 * a limit only ends a hang (vitest.config.ts); tests that expect a long wait still say so themselves.
 */
import { configure } from "@testing-library/dom";

configure({ asyncUtilTimeout: 60_000 });
