// The agent builder's canvas: React Flow (@xyflow/react 12) with a palette to drag nodes from,
// undo/redo, copy/paste, auto-layout (dagre) and validation marks. Reflex wraps it as
// components.agent_canvas.AgentCanvas. The canvas owns the graph's structure while the page is
// open and tells Reflex about every committed change (debounced); settings edited in the side
// panel come back as `patch` ({seq, node_id, data}); a new `revision` replaces the whole graph.
import React, { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import {
  Background,
  Controls,
  Handle,
  MiniMap,
  Panel,
  Position,
  ReactFlow,
  ReactFlowProvider,
  addEdge,
  applyEdgeChanges,
  applyNodeChanges,
  useReactFlow,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import * as dagreModule from "@dagrejs/dagre";

const dagre = dagreModule.default ?? dagreModule;
const DRAG_TYPE = "application/x-medai-node";
const EMIT_DELAY_MS = 250;
const HISTORY_LIMIT = 100;
const NODE_SIZE = { width: 200, height: 80 };
const CanvasContext = createContext({ specs: {}, lang: "en", problems: {} });

// ---- graph <-> React Flow -------------------------------------------------------------------

function toFlow(graph) {
  const nodes = (graph?.nodes ?? []).map((n) => ({
    id: String(n.id),
    type: String(n.type),
    position: { x: Number(n.position?.x ?? 0), y: Number(n.position?.y ?? 0) },
    data: n.data ?? {},
  }));
  const edges = (graph?.edges ?? []).map((e) => ({
    id: String(e.id),
    source: String(e.source),
    target: String(e.target),
    sourceHandle: e.sourceHandle ?? null,
    targetHandle: e.targetHandle ?? null,
  }));
  return { nodes, edges };
}

export function toGraph(nodes, edges) {
  return {
    nodes: nodes.map((n) => ({
      id: n.id,
      type: n.type,
      position: { x: Math.round(n.position.x * 10) / 10, y: Math.round(n.position.y * 10) / 10 },
      data: n.data ?? {},
    })),
    edges: edges.map((e) => ({
      id: e.id,
      source: e.source,
      target: e.target,
      sourceHandle: e.sourceHandle ?? null,
      targetHandle: e.targetHandle ?? null,
    })),
  };
}

// Same rule as backend.services.agent_nodes.new_node_id: "start", then llm_1, llm_2 ...
function newNodeId(type, taken) {
  if (type === "start" && !taken.has("start")) return "start";
  let n = 1;
  while (taken.has(`${type}_${n}`)) n += 1;
  return `${type}_${n}`;
}

function edgeId(c) {
  return `e_${c.source}_${c.sourceHandle ?? "out"}_${c.target}`;
}

function defaults(spec) {
  const data = {};
  for (const s of spec.settings ?? []) {
    if (s.default !== null && s.default !== undefined) data[s.name] = JSON.parse(JSON.stringify(s.default));
  }
  return data;
}

function label(spec, lang) {
  if (!spec) return "?";
  return lang === "zh" ? spec.label_zh : spec.label_en;
}

function sourceHandles(spec, data) {
  if (!spec) return [];
  if (spec.outputs_from) {
    const values = (data ?? {})[spec.outputs_from];
    return Array.isArray(values) ? values.filter((v) => typeof v === "string" && v) : [];
  }
  return spec.outputs ?? [];
}

function summary(spec, data) {
  // The first setting that says what the node does: a model, a tool, knowledge bases ...
  for (const s of spec?.settings ?? []) {
    const v = (data ?? {})[s.name];
    if (["select", "multiselect"].includes(s.kind) && v && v.length) return Array.isArray(v) ? v.join(", ") : v;
  }
  if (spec?.type === "start") return ((data ?? {}).variables ?? []).map((v) => v.name).join(", ");
  return "";
}

// ---- the node --------------------------------------------------------------------------------

function AgentNode({ id, type, data, selected }) {
  const { specs, lang, problems } = useContext(CanvasContext);
  const spec = specs[type];
  const marks = problems[id] ?? [];
  const outs = sourceHandles(spec, data);
  const color = spec?.color ?? "gray";
  const text = summary(spec, data);
  return (
    <div
      data-testid={`agent-node-${id}`}
      data-problems={marks.length}
      title={marks.join("\n")}
      style={{
        minWidth: 170,
        maxWidth: 240,
        borderRadius: 10,
        background: "var(--color-panel-solid, #fff)",
        color: "var(--gray-12, #111)",
        border: `2px solid ${marks.length ? "var(--red-9, #e5484d)" : selected ? `var(--${color}-9)` : "var(--gray-6, #ccc)"}`,
        boxShadow: selected ? "0 0 0 3px var(--accent-a5, rgba(0,128,128,.3))" : "0 1px 3px rgba(0,0,0,.12)",
        fontSize: 12,
      }}
    >
      <div
        style={{
          display: "flex",
          alignItems: "center",
          gap: 6,
          padding: "6px 10px",
          borderBottom: "1px solid var(--gray-5, #ddd)",
          background: `var(--${color}-3)`,
          borderRadius: "8px 8px 0 0",
        }}
      >
        <span style={{ width: 8, height: 8, borderRadius: 4, background: `var(--${color}-9)` }} />
        <strong style={{ flex: 1 }}>{label(spec, lang)}</strong>
        {marks.length > 0 && (
          <span
            data-testid={`agent-node-problems-${id}`}
            style={{ background: "var(--red-9, #e5484d)", color: "#fff", borderRadius: 8, padding: "0 6px" }}
          >
            {marks.length}
          </span>
        )}
      </div>
      <div style={{ padding: "6px 10px" }}>
        <code style={{ fontSize: 11, color: "var(--gray-11, #555)" }}>{id}</code>
        {text ? <div style={{ marginTop: 2, overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap" }}>{text}</div> : null}
      </div>
      {(spec?.inputs ?? []).map((h) => (
        <Handle key={`in-${h}`} id={h} type="target" position={Position.Left} style={{ width: 12, height: 12 }} />
      ))}
      {outs.map((h, i) => (
        <React.Fragment key={`out-${h}`}>
          <Handle
            id={h}
            type="source"
            position={Position.Right}
            style={{ width: 12, height: 12, top: `${((i + 1) * 100) / (outs.length + 1)}%` }}
          />
          {outs.length > 1 && (
            <span
              style={{
                position: "absolute",
                right: -6,
                top: `calc(${((i + 1) * 100) / (outs.length + 1)}% - 8px)`,
                transform: "translateX(100%)",
                fontSize: 10,
                color: "var(--gray-11, #555)",
                pointerEvents: "none",
              }}
            >
              {h}
            </span>
          )}
        </React.Fragment>
      ))}
    </div>
  );
}

// ---- the palette -----------------------------------------------------------------------------

function Palette({ specs, lang, title, onAdd }) {
  return (
    <div
      data-testid="agent-palette"
      style={{
        width: 170,
        padding: 8,
        borderRight: "1px solid var(--gray-5, #ddd)",
        overflowY: "auto",
        background: "var(--gray-2, #fafafa)",
      }}
    >
      <div style={{ fontWeight: 600, fontSize: 12, marginBottom: 6, color: "var(--gray-11, #555)" }}>{title}</div>
      {specs.map((spec) => (
        <div
          key={spec.type}
          id={`palette-${spec.type}`}
          data-testid={`palette-${spec.type}`}
          draggable
          onDragStart={(event) => {
            event.dataTransfer.setData(DRAG_TYPE, spec.type);
            event.dataTransfer.effectAllowed = "move";
          }}
          onDoubleClick={() => onAdd(spec.type)}
          title={lang === "zh" ? spec.description_zh : spec.description_en}
          style={{
            cursor: "grab",
            userSelect: "none",
            margin: "4px 0",
            padding: "6px 8px",
            borderRadius: 8,
            fontSize: 12,
            border: "1px solid var(--gray-6, #ccc)",
            borderLeft: `4px solid var(--${spec.color ?? "gray"}-9)`,
            background: "var(--color-panel-solid, #fff)",
          }}
        >
          {label(spec, lang)}
        </div>
      ))}
    </div>
  );
}

function ToolButton({ id, text, onClick, disabled }) {
  return (
    <button
      id={id}
      type="button"
      onClick={onClick}
      disabled={disabled}
      title={text}
      style={{
        fontSize: 12,
        padding: "4px 8px",
        borderRadius: 6,
        border: "1px solid var(--gray-6, #ccc)",
        background: "var(--color-panel-solid, #fff)",
        color: "var(--gray-12, #111)",
        opacity: disabled ? 0.45 : 1,
        cursor: disabled ? "default" : "pointer",
      }}
    >
      {text}
    </button>
  );
}

// ---- layout ----------------------------------------------------------------------------------

function layout(nodes, edges) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 40, ranksep: 90 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) {
    g.setNode(n.id, { width: n.measured?.width ?? NODE_SIZE.width, height: n.measured?.height ?? NODE_SIZE.height });
  }
  for (const e of edges) g.setEdge(e.source, e.target);
  dagre.layout(g);
  return nodes.map((n) => {
    const p = g.node(n.id);
    const w = n.measured?.width ?? NODE_SIZE.width;
    const h = n.measured?.height ?? NODE_SIZE.height;
    return { ...n, position: { x: p.x - w / 2, y: p.y - h / 2 } };
  });
}

function isTyping(target) {
  const tag = (target?.tagName ?? "").toLowerCase();
  return ["input", "textarea", "select"].includes(tag) || target?.isContentEditable;
}

// ---- the canvas ------------------------------------------------------------------------------

function Canvas(props) {
  const { graph, revision, specs = [], problems = [], lang = "en", labels = {}, patch, onChange, onSelect } = props;
  const flow = useReactFlow();
  const initial = useMemo(() => toFlow(graph), []); // eslint-disable-line react-hooks/exhaustive-deps
  const [nodes, setNodes] = useState(initial.nodes);
  const [edges, setEdges] = useState(initial.edges);
  const current = useRef({ nodes: initial.nodes, edges: initial.edges });
  const history = useRef({ past: [], future: [] });
  const [historySize, setHistorySize] = useState({ past: 0, future: 0 });
  const clipboard = useRef(null);
  const pasteCount = useRef(0);
  const timer = useRef(null);
  const dragStart = useRef(null);
  const selectedId = useRef("");
  const seenRevision = useRef(revision);
  const seenPatch = useRef(patch?.seq ?? 0);
  const onChangeRef = useRef(onChange);
  const onSelectRef = useRef(onSelect);
  onChangeRef.current = onChange;
  onSelectRef.current = onSelect;

  // Reflex passes the catalogue as a new array on every render: key the memos by its content, so
  // React Flow keeps its node types (a new nodeTypes object remounts every node mid-gesture).
  const specsKey = useMemo(() => JSON.stringify(specs), [specs]);
  const specByType = useMemo(() => Object.fromEntries(specs.map((s) => [s.type, s])), [specsKey]); // eslint-disable-line react-hooks/exhaustive-deps
  const nodeTypes = useMemo(() => Object.fromEntries(specs.map((s) => [s.type, AgentNode])), [specsKey]); // eslint-disable-line react-hooks/exhaustive-deps
  const problemsKey = JSON.stringify(problems ?? []);
  const marks = useMemo(() => {
    const found = {};
    for (const p of problems ?? []) {
      if (p.node_id) (found[p.node_id] = found[p.node_id] ?? []).push(p.message);
    }
    return found;
  }, [problemsKey]); // eslint-disable-line react-hooks/exhaustive-deps

  const set = useCallback((nextNodes, nextEdges) => {
    current.current = { nodes: nextNodes, edges: nextEdges };
    setNodes(nextNodes);
    setEdges(nextEdges);
  }, []);

  const flush = useCallback(() => {
    if (timer.current) {
      clearTimeout(timer.current);
      timer.current = null;
      onChangeRef.current?.(toGraph(current.current.nodes, current.current.edges));
    }
  }, []);

  const emit = useCallback(() => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(() => {
      timer.current = null;
      onChangeRef.current?.(toGraph(current.current.nodes, current.current.edges));
    }, EMIT_DELAY_MS);
  }, []);

  useEffect(() => () => flush(), [flush]);

  // One user action may change nodes and edges in separate callbacks (deleting a node removes
  // its edges too): changes within one task make one step of history.
  const recording = useRef(false);
  const record = useCallback((snapshot) => {
    if (recording.current) return;
    recording.current = true;
    setTimeout(() => {
      recording.current = false;
    }, 0);
    const h = history.current;
    h.past = [...h.past.slice(-(HISTORY_LIMIT - 1)), snapshot ?? current.current];
    h.future = [];
    setHistorySize({ past: h.past.length, future: 0 });
  }, []);

  const commit = useCallback(
    (nextNodes, nextEdges, snapshot) => {
      record(snapshot);
      set(nextNodes, nextEdges);
      emit();
    },
    [record, set, emit],
  );

  // A new revision from the server (load, rollback, template): replace everything.
  useEffect(() => {
    if (revision === seenRevision.current) return;
    seenRevision.current = revision;
    const fresh = toFlow(graph);
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
    history.current = { past: [], future: [] };
    setHistorySize({ past: 0, future: 0 });
    set(fresh.nodes, fresh.edges);
    setTimeout(() => flow.fitView({ padding: 0.2 }), 50);
  }, [revision, graph, set, flow]);

  // Settings edited in the side panel: the server already has them, so nothing is emitted.
  useEffect(() => {
    if (!patch || !patch.seq || patch.seq === seenPatch.current) return;
    seenPatch.current = patch.seq;
    const apply = (list) => list.map((n) => (n.id === patch.node_id ? { ...n, data: patch.data } : n));
    const h = history.current;
    h.past = h.past.map((s) => ({ ...s, nodes: apply(s.nodes) }));
    h.future = h.future.map((s) => ({ ...s, nodes: apply(s.nodes) }));
    set(apply(current.current.nodes), current.current.edges);
  }, [patch, set]);

  const onNodesChange = useCallback(
    (changes) => {
      const next = applyNodeChanges(changes, current.current.nodes);
      if (changes.some((c) => c.type === "remove")) commit(next, current.current.edges);
      else set(next, current.current.edges);
    },
    [commit, set],
  );

  const onEdgesChange = useCallback(
    (changes) => {
      const next = applyEdgeChanges(changes, current.current.edges);
      if (changes.some((c) => c.type === "remove")) commit(current.current.nodes, next);
      else set(current.current.nodes, next);
    },
    [commit, set],
  );

  const onConnect = useCallback(
    (connection) => {
      const edge = { ...connection, id: edgeId(connection) };
      commit(current.current.nodes, addEdge(edge, current.current.edges));
    },
    [commit],
  );

  const isValidConnection = useCallback(
    (c) =>
      c.source !== c.target &&
      !current.current.edges.some(
        (e) => e.source === c.source && e.target === c.target && (e.sourceHandle ?? null) === (c.sourceHandle ?? null),
      ),
    [],
  );

  const onNodeDragStart = useCallback(() => {
    dragStart.current = current.current;
  }, []);

  const onNodeDragStop = useCallback(() => {
    if (dragStart.current) {
      record(dragStart.current);
      dragStart.current = null;
      emit();
    }
  }, [record, emit]);

  const addNode = useCallback(
    (type, position) => {
      const spec = specByType[type];
      if (!spec) return;
      const taken = new Set(current.current.nodes.map((n) => n.id));
      const id = newNodeId(type, taken);
      const node = { id, type, position, data: defaults(spec), selected: true };
      const others = current.current.nodes.map((n) => (n.selected ? { ...n, selected: false } : n));
      commit([...others, node], current.current.edges);
    },
    [specByType, commit],
  );

  const onDragOver = useCallback((event) => {
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
  }, []);

  const onDrop = useCallback(
    (event) => {
      event.preventDefault();
      const type = event.dataTransfer.getData(DRAG_TYPE);
      if (!type) return;
      const at = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY });
      addNode(type, { x: at.x - NODE_SIZE.width / 2, y: at.y - 20 });
    },
    [flow, addNode],
  );

  const addAtCentre = useCallback(
    (type) => {
      const box = document.querySelector("[data-testid='agent-flow']")?.getBoundingClientRect();
      const at = box
        ? flow.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 2 })
        : { x: 0, y: 0 };
      addNode(type, { x: at.x - NODE_SIZE.width / 2 + 20 * (current.current.nodes.length % 5), y: at.y });
    },
    [flow, addNode],
  );

  const onSelectionChange = useCallback(
    ({ nodes: chosen }) => {
      const id = chosen.length === 1 ? chosen[0].id : "";
      if (id === selectedId.current) return;
      selectedId.current = id;
      flush(); // the server must know a node before its settings open
      onSelectRef.current?.(id);
    },
    [flush],
  );

  const travel = useCallback(
    (from, to) => {
      const h = history.current;
      if (!h[from].length) return;
      const snapshot = h[from][h[from].length - 1];
      h[from] = h[from].slice(0, -1);
      h[to] = [...h[to], current.current];
      setHistorySize({ past: h.past.length, future: h.future.length });
      set(snapshot.nodes, snapshot.edges);
      emit();
    },
    [set, emit],
  );
  const undo = useCallback(() => travel("past", "future"), [travel]);
  const redo = useCallback(() => travel("future", "past"), [travel]);

  const copy = useCallback(() => {
    const chosen = current.current.nodes.filter((n) => n.selected);
    if (!chosen.length) return;
    const ids = new Set(chosen.map((n) => n.id));
    clipboard.current = {
      nodes: chosen.map((n) => ({ type: n.type, id: n.id, position: n.position, data: n.data })),
      edges: current.current.edges.filter((e) => ids.has(e.source) && ids.has(e.target)),
    };
    pasteCount.current = 0;
  }, []);

  const paste = useCallback(() => {
    const copied = clipboard.current;
    if (!copied) return;
    pasteCount.current += 1;
    const shift = 40 * pasteCount.current;
    const taken = new Set(current.current.nodes.map((n) => n.id));
    const renamed = {};
    const fresh = copied.nodes.map((n) => {
      const id = newNodeId(n.type, taken);
      taken.add(id);
      renamed[n.id] = id;
      const data = JSON.parse(JSON.stringify(n.data ?? {}));
      return { id, type: n.type, position: { x: n.position.x + shift, y: n.position.y + shift }, data, selected: true };
    });
    const freshEdges = copied.edges.map((e) => {
      const c = { ...e, source: renamed[e.source], target: renamed[e.target] };
      return { ...c, id: edgeId(c), selected: false };
    });
    const others = current.current.nodes.map((n) => (n.selected ? { ...n, selected: false } : n));
    commit([...others, ...fresh], [...current.current.edges, ...freshEdges]);
  }, [commit]);

  const autoLayout = useCallback(() => {
    commit(layout(current.current.nodes, current.current.edges), current.current.edges);
    setTimeout(() => flow.fitView({ padding: 0.2 }), 50);
  }, [commit, flow]);

  const onKeyDown = useCallback(
    (event) => {
      if (isTyping(event.target)) return;
      const mod = event.ctrlKey || event.metaKey;
      if (!mod) return;
      const key = event.key.toLowerCase();
      const actions = { z: event.shiftKey ? redo : undo, y: redo, c: copy, v: paste };
      if (actions[key]) {
        event.preventDefault();
        actions[key]();
      }
    },
    [undo, redo, copy, paste],
  );

  const context = useMemo(() => ({ specs: specByType, lang, problems: marks }), [specByType, lang, marks]);
  const text = (key, fallback) => labels?.[key] ?? fallback;

  return (
    <CanvasContext.Provider value={context}>
      <div
        id={props.id}
        className={props.className}
        tabIndex={0}
        onKeyDown={onKeyDown}
        data-testid="agent-canvas"
        data-nodes={nodes.length}
        data-edges={edges.length}
        style={{ display: "flex", width: "100%", height: "100%", minHeight: 480, outline: "none" }}
      >
        <Palette specs={specs} lang={lang} title={text("palette", "Nodes")} onAdd={addAtCentre} />
        <div style={{ flex: 1, position: "relative" }} data-testid="agent-flow" onDragOver={onDragOver} onDrop={onDrop}>
          <ReactFlow
            nodes={nodes}
            edges={edges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            isValidConnection={isValidConnection}
            onNodeDragStart={onNodeDragStart}
            onNodeDragStop={onNodeDragStop}
            onSelectionChange={onSelectionChange}
            deleteKeyCode={["Backspace", "Delete"]}
            defaultEdgeOptions={{ animated: false, style: { strokeWidth: 2 } }}
            colorMode={props.colorMode ?? "system"}
            fitView={initial.nodes.length > 0}
            fitViewOptions={{ padding: 0.2, maxZoom: 1 }}
          >
            <Background gap={16} />
            <Controls />
            <MiniMap
              pannable
              zoomable
              nodeColor={(n) => `var(--${specByType[n.type]?.color ?? "gray"}-9)`}
              ariaLabel={text("minimap", "Mini map")}
            />
            <Panel position="top-right">
              <div style={{ display: "flex", gap: 4 }}>
                <ToolButton id="canvas-undo" text={text("undo", "Undo")} onClick={undo} disabled={!historySize.past} />
                <ToolButton id="canvas-redo" text={text("redo", "Redo")} onClick={redo} disabled={!historySize.future} />
                <ToolButton id="canvas-copy" text={text("copy", "Copy")} onClick={copy} />
                <ToolButton id="canvas-paste" text={text("paste", "Paste")} onClick={paste} />
                <ToolButton id="canvas-layout" text={text("layout", "Auto-layout")} onClick={autoLayout} />
              </div>
            </Panel>
          </ReactFlow>
        </div>
      </div>
    </CanvasContext.Provider>
  );
}

export function AgentCanvas(props) {
  return (
    <ReactFlowProvider>
      <Canvas {...props} />
    </ReactFlowProvider>
  );
}
