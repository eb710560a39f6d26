/**
 * The value of `a op b op …` with the usual precedence (× and ÷ before + and −, each left to right): the data tests'
 * own evaluator of the generated arithmetic, independent of src/data.
 */
export function evaluate(expression: string): number {
  const [first, ...rest] = expression.split(' ');
  const terms: number[] = [Number(first)];
  const signs: string[] = [];
  for (let i = 0; i < rest.length; i += 2) {
    const [op, value] = [rest[i], Number(rest[i + 1])];
    if (op === '×') terms[terms.length - 1] *= value;
    else if (op === '÷') terms[terms.length - 1] /= value;
    else {
      signs.push(op);
      terms.push(value);
    }
  }
  return terms.slice(1).reduce((sum, term, i) => (signs[i] === '+' ? sum + term : sum - term), terms[0]);
}
