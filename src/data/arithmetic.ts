import { Rng } from '../engine/rng.js';
import { DataError } from './corpora.js';
import type { TaskExample } from './tasks.js';

export interface ArithmeticOptions {
  /** Seed of the templates, names and numbers; default 0. */
  seed?: number;
}

/**
 * GSM8K-style word problems with worked solutions, written by lithe (arithmetic calibration data, arXiv 2410.07461).
 * Each problem comes from one of several templates (shopping, rates and time, sharing, multi-step counts with 2–4
 * operations, percentages, ages, unit conversions) with names, items and whole numbers drawn from the seed; every
 * intermediate result is a non-negative integer. The rationale spells each step as `a op b = c` (ops `+ − × ÷`,
 * percentages as `a × p ÷ 100 = c`), its last statement's result is the answer, it ends without a period (the CoT
 * layout appends ". So the answer is …"), and `answer` is that number in decimal. Deterministic for a seed.
 */
export function arithmeticProblems(count: number, options: ArithmeticOptions = {}): TaskExample[] {
  if (!Number.isInteger(count) || count < 0) {
    throw new DataError(`arithmeticProblems: count must be a non-negative integer, got ${count}`);
  }
  const problems = arithmeticProblemStream(options);
  return Array.from({ length: count }, () => problems.next().value);
}

/** arithmeticProblems without an end, one problem at a time: its first n problems are arithmeticProblems(n). */
export function* arithmeticProblemStream(options: ArithmeticOptions = {}): Generator<TaskExample, never> {
  const rng = new Rng(options.seed ?? 0);
  for (;;) yield pick(rng, TEMPLATES)(rng);
}

type Op = '+' | '−' | '×' | '÷';

interface Calc {
  /** The statement, e.g. `3 × 12 = 36`. */
  text: string;
  value: number;
}

/** `a op b = c`; a negative or fractional result is a bug in a template, so it throws rather than teach it. */
function calc(a: number, op: Op, b: number): Calc {
  const value = op === '+' ? a + b : op === '−' ? a - b : op === '×' ? a * b : a / b;
  if (!Number.isInteger(value) || value < 0) throw new Error(`arithmetic template bug: ${a} ${op} ${b} = ${value}`);
  return { text: `${a} ${op} ${b} = ${value}`, value };
}

/** p% of a as `a × p ÷ 100 = c`; the templates pick a so that a × p is a multiple of 100. */
function percentOf(a: number, p: number): Calc {
  const { value } = calc(calc(a, '×', p).value, '÷', 100);
  return { text: `${a} × ${p} ÷ 100 = ${value}`, value };
}

/** Uniform integer in [lo, hi]. */
function between(rng: Rng, lo: number, hi: number): number {
  return lo + rng.int(hi - lo + 1);
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)];
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** The smallest n such that n × unit is a multiple of divisor (so a conversion divides evenly). */
function stepFor(unit: number, divisor: number): number {
  return divisor / gcd(unit, divisor);
}

function capitalize(word: string): string {
  return word[0].toUpperCase() + word.slice(1);
}

interface Person {
  name: string;
  /** Subject and possessive pronouns. */
  he: string;
  his: string;
}

const HE = { he: 'he', his: 'his' };
const SHE = { he: 'she', his: 'her' };
const PEOPLE: readonly Person[] = [
  { name: 'Tom', ...HE },
  { name: 'Maria', ...SHE },
  { name: 'Aisha', ...SHE },
  { name: 'Liam', ...HE },
  { name: 'Chen', ...HE },
  { name: 'Sofia', ...SHE },
  { name: 'Omar', ...HE },
  { name: 'Priya', ...SHE },
  { name: 'Jack', ...HE },
  { name: 'Emma', ...SHE },
  { name: 'Diego', ...HE },
  { name: 'Hana', ...SHE },
];

/** Two different people, for the templates that compare them. */
function twoPeople(rng: Rng): [Person, Person] {
  const first = pick(rng, PEOPLE);
  const others = PEOPLE.filter((p) => p !== first);
  return [first, pick(rng, others)];
}

const SHOP_ITEMS = [
  'notebooks',
  'pens',
  'apples',
  'candles',
  'mugs',
  'pairs of socks',
  'comic books',
  'plants',
  'towels',
];
const SALE_ITEMS = ['jacket', 'bicycle', 'lamp', 'backpack', 'guitar', 'watch', 'chair', 'pair of shoes'];
const COUNTED_ITEMS: readonly { item: string; container: string }[] = [
  { item: 'pencils', container: 'packs' },
  { item: 'stickers', container: 'sheets' },
  { item: 'marbles', container: 'bags' },
  { item: 'apples', container: 'crates' },
  { item: 'cards', container: 'decks' },
  { item: 'cookies', container: 'boxes' },
  { item: 'eggs', container: 'cartons' },
];
const VEHICLES = ['car', 'bus', 'train', 'truck', 'cyclist'];
const ACTIVITIES = ['practices the piano', 'studies', 'walks the dog', 'plays chess', 'paints', 'swims'];
const DRINKS = ['juice', 'milk', 'water', 'lemonade', 'tea'];

/** Two priced items, a total, and change from the smallest bill that covers it. */
function shopping(rng: Rng): TaskExample {
  const p = pick(rng, PEOPLE);
  const first = pick(rng, SHOP_ITEMS);
  const second = pick(
    rng,
    SHOP_ITEMS.filter((item) => item !== first),
  );
  const [n1, price1, n2, price2] = [between(rng, 2, 6), between(rng, 2, 9), between(rng, 2, 5), between(rng, 3, 15)];
  const cost1 = calc(n1, '×', price1);
  const cost2 = calc(n2, '×', price2);
  const total = calc(cost1.value, '+', cost2.value);
  const bill = [20, 50, 100, 200].find((b) => b > total.value)!;
  const change = calc(bill, '−', total.value);
  return {
    question:
      `${p.name} buys ${n1} ${first} for $${price1} each and ${n2} ${second} for $${price2} each. ` +
      `${capitalize(p.he)} pays with a $${bill} bill. How much change does ${p.he} get, in dollars?`,
    rationale:
      `The ${first} cost ${cost1.text} dollars and the ${second} cost ${cost2.text} dollars. ` +
      `Together that is ${total.text} dollars. ${capitalize(p.he)} pays ${bill} dollars, so the change is ` +
      `${change.text} dollars`,
    answer: String(change.value),
  };
}

/** Distance over two legs at different speeds. */
function travel(rng: Rng): TaskExample {
  const vehicle = pick(rng, VEHICLES);
  const [speed1, hours1, speed2, hours2] = [
    5 * between(rng, 4, 14),
    between(rng, 2, 5),
    5 * between(rng, 4, 14),
    between(rng, 1, 4),
  ];
  const leg1 = calc(speed1, '×', hours1);
  const leg2 = calc(speed2, '×', hours2);
  const total = calc(leg1.value, '+', leg2.value);
  return {
    question:
      `A ${vehicle} travels at ${speed1} miles per hour for ${hours1} hours, then at ${speed2} miles per hour ` +
      `for ${hours2} hours. How many miles does it travel in total?`,
    rationale:
      `In the first part it travels ${leg1.text} miles. In the second part it travels ${leg2.text} miles. ` +
      `In total it travels ${total.text} miles`,
    answer: String(total.value),
  };
}

/** Time left to finish a book at a steady rate. */
function reading(rng: Rng): TaskExample {
  const p = pick(rng, PEOPLE);
  const [rate, hoursLeft, done] = [5 * between(rng, 2, 8), between(rng, 2, 9), 5 * between(rng, 4, 30)];
  const pages = done + rate * hoursLeft;
  const remaining = calc(pages, '−', done);
  const hours = calc(remaining.value, '÷', rate);
  return {
    question:
      `${p.name} reads ${rate} pages an hour. ${capitalize(p.his)} book has ${pages} pages and ${p.he} has already ` +
      `read ${done} of them. How many more hours does ${p.he} need to finish it?`,
    rationale:
      `${capitalize(p.he)} still has ${remaining.text} pages to read. At ${rate} pages an hour that takes ` +
      `${hours.text} hours`,
    answer: String(hours.value),
  };
}

/** Equal shares: of boxes' contents, or of what is left after keeping some. */
function sharing(rng: Rng): TaskExample {
  const p = pick(rng, PEOPLE);
  const { item, container } = pick(rng, COUNTED_ITEMS);
  const [friends, each] = [between(rng, 2, 8), between(rng, 2, 9)];
  if (rng.uniform() < 0.5) {
    const boxes = between(rng, 2, 6);
    const perBox = friends * between(rng, 1, 4);
    const total = calc(boxes, '×', perBox);
    const share = calc(total.value, '÷', friends);
    return {
      question:
        `${p.name} has ${boxes} ${container} of ${item} with ${perBox} ${item} in each. ${capitalize(p.he)} shares ` +
        `them equally among ${friends} friends. How many ${item} does each friend get?`,
      rationale: `${capitalize(p.he)} has ${total.text} ${item}. Each friend gets ${share.text} ${item}`,
      answer: String(share.value),
    };
  }
  const kept = between(rng, 1, 12);
  const total = friends * each + kept;
  const rest = calc(total, '−', kept);
  const share = calc(rest.value, '÷', friends);
  return {
    question:
      `${p.name} has ${total} ${item}. ${capitalize(p.he)} keeps ${kept} and shares the rest equally among ` +
      `${friends} friends. How many ${item} does each friend get?`,
    rationale: `${capitalize(p.he)} shares ${rest.text} ${item}. Each friend gets ${share.text} ${item}`,
    answer: String(share.value),
  };
}

/** A count built by 2–4 operations: packs bought, then some given away, more bought, or the rest split evenly. */
function multiStep(rng: Rng): TaskExample {
  const p = pick(rng, PEOPLE);
  const { item, container } = pick(rng, COUNTED_ITEMS);
  const [packs, perPack] = [between(rng, 2, 6), between(rng, 4, 12)];
  let current = calc(packs, '×', perPack);
  const question = [`${p.name} buys ${packs} ${container} of ${perPack} ${item}.`];
  const rationale = [`${capitalize(p.he)} buys ${current.text} ${item}`];
  const extraSteps = between(rng, 1, 3);
  let split = false;
  for (let i = 0; i < extraSteps; i++) {
    const last = i === extraSteps - 1;
    const divisors = [2, 3, 4, 5, 6].filter((d) => current.value % d === 0);
    if (last && divisors.length > 0 && rng.uniform() < 0.5) {
      const groups = pick(rng, divisors);
      current = calc(current.value, '÷', groups);
      question.push(`${capitalize(p.he)} puts them equally into ${groups} jars.`);
      rationale.push(`Shared among ${groups} jars, each jar holds ${current.text} ${item}`);
      split = true;
    } else if (current.value > 1 && rng.uniform() < 0.5) {
      const given = between(rng, 1, Math.min(current.value - 1, 15));
      const friend = pick(
        rng,
        PEOPLE.filter((q) => q !== p),
      ).name;
      current = calc(current.value, '−', given);
      question.push(`${capitalize(p.he)} gives ${given} to ${friend}.`);
      rationale.push(`After giving ${given} to ${friend}, ${p.he} has ${current.text} ${item}`);
    } else {
      const bought = between(rng, 2, 20);
      current = calc(current.value, '+', bought);
      question.push(`Then ${p.he} buys ${bought} more.`);
      rationale.push(`Buying ${bought} more makes ${current.text} ${item}`);
    }
  }
  question.push(split ? `How many ${item} are in each jar?` : `How many ${item} does ${p.he} have now?`);
  return { question: question.join(' '), rationale: rationale.join('. '), answer: String(current.value) };
}

/** A discounted price, or the part of a group not in a percentage. */
function percentage(rng: Rng): TaskExample {
  const percent = pick(rng, [10, 20, 25, 30, 40, 50, 60, 75]);
  if (rng.uniform() < 0.5) {
    const thing = pick(rng, SALE_ITEMS);
    const price = stepFor(percent, 100) * between(rng, 2, 12);
    const discount = percentOf(price, percent);
    const sale = calc(price, '−', discount.value);
    return {
      question: `A ${thing} costs $${price}. During a sale it is ${percent}% off. What is the sale price in dollars?`,
      rationale: `The discount is ${discount.text} dollars. The sale price is ${sale.text} dollars`,
      answer: String(sale.value),
    };
  }
  const students = stepFor(percent, 100) * between(rng, 1, 8);
  const walkers = percentOf(students, percent);
  const others = calc(students, '−', walkers.value);
  return {
    question:
      `There are ${students} students in a school club. ${percent}% of them walk to school. ` +
      `How many of them do not walk to school?`,
    rationale: `${walkers.text} students walk. So the number who do not walk is ${others.text} students`,
    answer: String(others.value),
  };
}

/** Ages from a difference and a future age, or from a multiple and a later year. */
function ages(rng: Rng): TaskExample {
  const [a, b] = twoPeople(rng);
  if (rng.uniform() < 0.5) {
    const [older, years, bNow] = [between(rng, 2, 15), between(rng, 2, 10), between(rng, 3, 30)];
    const bLater = bNow + years;
    const bAge = calc(bLater, '−', years);
    const aAge = calc(bAge.value, '+', older);
    return {
      question:
        `${a.name} is ${older} years older than ${b.name}. In ${years} years, ${b.name} will be ${bLater} years ` +
        `old. How old is ${a.name} now?`,
      rationale: `${b.name} is ${bAge.text} years old now. So ${a.name} is ${aAge.text} years old`,
      answer: String(aAge.value),
    };
  }
  const [times, bNow, years] = [between(rng, 2, 4), between(rng, 3, 12), between(rng, 2, 10)];
  const aNow = calc(bNow, '×', times);
  const aLater = calc(aNow.value, '+', years);
  return {
    question:
      `${a.name} is ${times} times as old as ${b.name}, who is ${bNow} years old. ` +
      `How old will ${a.name} be in ${years} years?`,
    rationale: `${a.name} is ${aNow.text} years old now. In ${years} years ${a.he} will be ${aLater.text} years old`,
    answer: String(aLater.value),
  };
}

/** Minutes to hours, milliliters to liters, or meters to kilometers, chosen so each divides evenly. */
function conversion(rng: Rng): TaskExample {
  const kind = rng.int(3);
  const p = pick(rng, PEOPLE);
  if (kind === 0) {
    const minutes = pick(rng, [15, 20, 30, 40, 45, 50, 90]);
    const days = stepFor(minutes, 60) * between(rng, 2, 3);
    const total = calc(minutes, '×', days);
    const hours = calc(total.value, '÷', 60);
    return {
      question:
        `${p.name} ${pick(rng, ACTIVITIES)} for ${minutes} minutes a day. ` +
        `How many hours is that over ${days} days?`,
      rationale: `Over ${days} days that is ${total.text} minutes. An hour has 60 minutes, so that is ${hours.text} hours`,
      answer: String(hours.value),
    };
  }
  if (kind === 1) {
    const drink = pick(rng, DRINKS);
    const milliliters = pick(rng, [125, 200, 250, 500, 750]);
    const bottles = stepFor(milliliters, 1000) * between(rng, 2, 4);
    const total = calc(milliliters, '×', bottles);
    const liters = calc(total.value, '÷', 1000);
    return {
      question: `A bottle holds ${milliliters} milliliters of ${drink}. How many liters of ${drink} are in ${bottles} bottles?`,
      rationale: `The bottles hold ${total.text} milliliters. A liter is 1000 milliliters, so that is ${liters.text} liters`,
      answer: String(liters.value),
    };
  }
  const track = pick(rng, [200, 250, 400, 500]);
  const laps = stepFor(track, 1000) * between(rng, 1, 3);
  const days = between(rng, 2, 7);
  const daily = calc(laps, '×', track);
  const total = calc(daily.value, '×', days);
  const kilometers = calc(total.value, '÷', 1000);
  return {
    question:
      `${p.name} runs ${laps} laps of a ${track}-meter track every day for ${days} days. ` +
      `How many kilometers does ${p.he} run in total?`,
    rationale:
      `Each day ${p.he} runs ${daily.text} meters. Over ${days} days that is ${total.text} meters. ` +
      `A kilometer is 1000 meters, so ${p.he} runs ${kilometers.text} kilometers`,
    answer: String(kilometers.value),
  };
}

const TEMPLATES: readonly ((rng: Rng) => TaskExample)[] = [
  shopping,
  travel,
  reading,
  sharing,
  multiStep,
  percentage,
  ages,
  conversion,
];
