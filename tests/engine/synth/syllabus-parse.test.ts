/**
 * The syllabus parser (engine/synth/syllabus-parse.ts) on drafts in the shapes chat models write:
 * numbered sessions with bullet concepts, markdown headers with "Key concepts" labels, "Week N –"
 * lines with the concepts on one line, bold lines, a table; preambles, objectives and readings are
 * not concepts; noise yields no session and counts its lines, and nothing throws.
 */
import { describe, expect, it } from "vitest";
import { parseSyllabus } from "../../../engine/synth/syllabus-parse";

const titles = (text: string) => parseSyllabus(text).sessions.map((s) => s.title);

describe("parseSyllabus", () => {
  it("numbered sessions with bullet concepts under each, after a preamble and before a closing remark", () => {
    const draft = `Here is a syllabus for an introductory course on Algebra:

1. **Introduction to Algebraic Expressions**
   - Variables and constants
   - Terms, coefficients and like terms
   - Order of operations
2. **Linear Equations**
   - Solving one-step and two-step equations
   - Equations with variables on both sides
3. **Inequalities**
   - Graphing inequalities on a number line
   - Compound inequalities

This syllabus builds from the basics to more advanced topics.`;
    const parsed = parseSyllabus(draft);
    expect(parsed.sessions).toEqual([
      { title: "Introduction to Algebraic Expressions", concepts: ["Variables and constants", "Terms, coefficients and like terms", "Order of operations"] },
      { title: "Linear Equations", concepts: ["Solving one-step and two-step equations", "Equations with variables on both sides"] },
      { title: "Inequalities", concepts: ["Graphing inequalities on a number line", "Compound inequalities"] },
    ]);
    expect(parsed.unread).toBe(2); // the preamble and the closing remark
  });

  it("markdown headers per session, a course title, key concepts under a bold label, objectives and readings skipped", () => {
    const draft = `# Syllabus: Probability and Statistics

## Session 1: Foundations of Probability
**Learning objectives:**
- Understand what a probability measures
**Key Concepts:**
- Sample spaces and events
- Axioms of probability
- Equally likely outcomes

## Session 2: Conditional Probability
**Key Concepts:**
1. Conditional probability
2. Independence
3. Bayes' theorem: updating beliefs with evidence
**Reading:** Chapter 2

## Session 3: Midterm exam

## Session 4: Descriptive Statistics
- Key concepts: mean, median, and mode; variance (and standard deviation)
`;
    const parsed = parseSyllabus(draft);
    expect(parsed.sessions).toEqual([
      { title: "Foundations of Probability", concepts: ["Sample spaces and events", "Axioms of probability", "Equally likely outcomes"] },
      { title: "Conditional Probability", concepts: ["Conditional probability", "Independence", "Bayes' theorem"] },
      { title: "Descriptive Statistics", concepts: ["mean", "median", "mode", "variance (and standard deviation)"] },
    ]);
    expect(parsed.unread).toBe(2); // the course title, and the midterm session without concepts
  });

  it("week lines with the title, a dash and the concepts on one line; roman and ranged numbers; a pending title", () => {
    const draft = `Course Outline — Physics I

Week 1 – Kinematics: displacement, velocity, acceleration
Week 2 – Newton's Laws: inertia, F = ma, action and reaction
Weeks 3-4 are for review.
Week 5-6: Energy - kinetic energy, potential energy, conservation of energy
Lecture IV: Momentum
Key ideas: impulse, collisions
Session 7
Title: Circular Motion
* centripetal force
* angular velocity`;
    expect(parseSyllabus(draft).sessions).toEqual([
      { title: "Kinematics", concepts: ["displacement", "velocity", "acceleration"] },
      { title: "Newton's Laws", concepts: ["inertia", "F = ma", "action and reaction"] },
      { title: "Energy", concepts: ["kinetic energy", "potential energy", "conservation of energy"] },
      { title: "Momentum", concepts: ["impulse", "collisions"] },
      { title: "Circular Motion", concepts: ["centripetal force", "angular velocity"] },
    ]);
  });

  it("bold session lines with italic labels, and nested numbered concepts (1.1, 1.2)", () => {
    const draft = `**Class 1: Cells**
*Key Concepts:*
- Cell theory
- Prokaryotic vs. eukaryotic cells

**Class 2: DNA**
2.1 Structure of DNA: the double helix
2.2 Replication`;
    expect(parseSyllabus(draft).sessions).toEqual([
      { title: "Cells", concepts: ["Cell theory", "Prokaryotic vs. eukaryotic cells"] },
      { title: "DNA", concepts: ["Structure of DNA", "Replication"] },
    ]);
  });

  it("a markdown table of sessions", () => {
    const draft = `| Session | Title | Key concepts |
|---|---|---|
| 1 | Supply and demand | demand curve, supply curve, equilibrium price |
| 2 | **Elasticity** | price elasticity; income elasticity |`;
    expect(parseSyllabus(draft).sessions).toEqual([
      { title: "Supply and demand", concepts: ["demand curve", "supply curve", "equilibrium price"] },
      { title: "Elasticity", concepts: ["price elasticity", "income elasticity"] },
    ]);
  });

  it("headers without a session word, each with a list; only titles (no concepts) stand for themselves", () => {
    expect(parseSyllabus("### Introduction to Recursion\n- Base cases\n- The call stack\n### Recursion on Lists\n- Sum of a list\n").sessions).toEqual([
      { title: "Introduction to Recursion", concepts: ["Base cases", "The call stack"] },
      { title: "Recursion on Lists", concepts: ["Sum of a list"] },
    ]);
    expect(parseSyllabus("1. Reading files\n2. Writing files\n3. Handling errors").sessions).toEqual([
      { title: "Reading files", concepts: ["Reading files"] },
      { title: "Writing files", concepts: ["Writing files"] },
      { title: "Handling errors", concepts: ["Handling errors"] },
    ]);
    expect(titles("- Sets\n  - Union\n  - Intersection\n- Functions\n  - Domain")).toEqual(["Sets", "Functions"]);
  });

  it("noise: no session, every line counted, nothing thrown", () => {
    for (const noise of ["", "   \n\n", "ĠĠ the the 12 ;; ### \n random tokens <|x|>\n%%%", "a\nb\nc", "- \n1. \n# \n**\n|"]) {
      const parsed = parseSyllabus(noise);
      expect(parsed.sessions.every((s) => s.title !== "" && s.concepts.length > 0)).toBe(true);
    }
    expect(parseSyllabus("ĠĠ the the 12 ;;\nrandom tokens\n%%%")).toEqual({ sessions: [], unread: 3 });
  });
});
