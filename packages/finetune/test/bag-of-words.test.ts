/**
 * The bag-of-words baseline against scikit-learn (fixtures/make_bow_golden.py: TfidfVectorizer(1, 2) +
 * LogisticRegression(C=1), lbfgs to convergence) on two sets: three classes (multinomial) and two (binary).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BagOfWordsClassifier, readLabelledFile, wordTokens, type LabelledText } from '../src/index';

interface Golden {
  labels: string[];
  train: number;
  test: number;
  vocabulary: number;
  idf: Record<string, number>;
  coef: Record<string, number[]>;
  test_probabilities: number[][];
  train_accuracy: number;
  test_accuracy: number;
}
const golden = JSON.parse(readFileSync(new URL('./fixtures/bow_golden.json', import.meta.url), 'utf8')) as { sklearn: string; three: Golden; sms: Golden };

const sets: Record<'three' | 'sms', LabelledText[]> = {
  three: readLabelledFile(readFileSync(new URL('../../../test/fixtures/three-class.csv', import.meta.url), 'utf8')).rows,
  sms: readFileSync(new URL('../data/SMSSpamCollection.tsv', import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(0, 400)
    .map((l) => ({ text: l.slice(l.indexOf('\t') + 1), label: l.slice(0, l.indexOf('\t')) })),
};

describe(`bag-of-words logistic regression vs scikit-learn ${golden.sklearn}`, () => {
  it('tokenizes like (?u)\\b\\w\\w+\\b on lowercased text', () => {
    expect(wordTokens("Don't call 0800-123! Ça va, l'été? a I x_y 2")).toEqual(['don', 'call', '0800', '123', 'ça', 'va', 'été', 'x_y']);
  });

  for (const name of ['three', 'sms'] as const) {
    it(`${name}: the same vocabulary, idf, coefficients (1e-5) and test probabilities (1e-6)`, () => {
      const g = golden[name];
      const rows = sets[name];
      const train = rows.filter((_, i) => i % 5 !== 4);
      const test = rows.filter((_, i) => i % 5 === 4);
      expect([train.length, test.length]).toEqual([g.train, g.test]);
      const t0 = performance.now();
      const bow = BagOfWordsClassifier.fit(train, g.labels);
      const seconds = (performance.now() - t0) / 1000;
      expect(bow.converged).toBe(true);
      expect(bow.features.size).toBe(g.vocabulary);
      for (const [term, idf] of Object.entries(g.idf)) expect(bow.features.idf(term), term).toBeCloseTo(idf, 12);
      let worstCoef = 0;
      for (const [term, coef] of Object.entries(g.coef)) {
        const ours = bow.coefficients(term)!;
        expect(ours.length, term).toBe(coef.length);
        ours.forEach((c, r) => (worstCoef = Math.max(worstCoef, Math.abs(c - coef[r]))));
      }
      let worstP = 0;
      test.forEach((r, i) => bow.probabilities(r.text).forEach((p, k) => (worstP = Math.max(worstP, Math.abs(p - g.test_probabilities[i][k])))));
      console.log(`bag-of-words ${name}: ${bow.features.size} terms, ${bow.iterations} L-BFGS iterations in ${seconds.toFixed(2)} s; max |Δ coef| ${worstCoef.toExponential(2)}, max |Δ p| ${worstP.toExponential(2)}`);
      expect(worstCoef).toBeLessThan(1e-5);
      expect(worstP).toBeLessThan(1e-6);
      expect(bow.accuracy(train)).toBeCloseTo(g.train_accuracy, 12);
      expect(bow.accuracy(test)).toBeCloseTo(g.test_accuracy, 12);
    });
  }

  it('refuses an unknown label and a bad C', () => {
    expect(() => BagOfWordsClassifier.fit([{ text: 'a b', label: 'z' }], ['x', 'y'])).toThrow("bag-of-words row 0: unknown label 'z'");
    expect(() => BagOfWordsClassifier.fit([], ['x', 'y'], { C: 0 })).toThrow('bag-of-words C must be a finite number > 0, got 0');
  });
});
