"""The UI's text for the shell and shared words: navigation, header, home page, health checks and one-click samples.

Each key maps to (English, 中文); ui_text merges every area's table into one."""

TEXT: dict[str, tuple[str, str]] = {
    "app.tagline": ("Medical large-model platform", "医疗大模型研发平台"),
    # the navigation: one entry per area
    "nav.home": ("Home", "首页"),
    "nav.assets": ("Assets", "资产管理"),
    "nav.admin": ("Administration", "系统管理"),
    "nav.training": ("R&D", "模型研发"),
    "nav.orchestration": ("Orchestration", "资源编排"),
    "nav.api_docs": ("API reference", "API 文档"),
    "nav.space": ("AI space", "AI 空间"),
    "nav.serving": ("Deploy", "模型部署"),
    "nav.playground": ("Playground", "在线体验"),
    "nav.agents": ("Agents", "智能体"),
    "nav.knowledge": ("Knowledge", "知识库"),
    "nav.ops": ("Operations", "运维中心"),
    # the header and its user menu
    "header.tenant": ("Tenant", "租户"),
    "header.pick_tenant": ("Choose a tenant", "选择租户"),
    "header.no_tenant": ("No tenant", "暂无租户"),
    "header.no_role": ("No role in this tenant", "在当前租户中无角色"),
    "header.language": ("Language", "语言"),
    "header.theme": ("Toggle light/dark theme", "切换明暗主题"),
    "user.guest": ("Not signed in", "未登录"),
    "user.account": ("Account and security", "账户与安全"),
    "user.sign_out": ("Sign out", "退出登录"),
    # shared words
    "common.cancel": ("Cancel", "取消"),
    "table.previous": ("Previous page", "上一页"),
    "table.next": ("Next page", "下一页"),
    "common.copy": ("Copy", "复制"),
    "common.copied": ("Copied to the clipboard", "已复制到剪贴板"),
    "common.saved_it": ("I have saved it", "我已妥善保存"),
    "common.shown_once": (
        "It is shown only now and cannot be displayed again. Copy it to a safe place.",
        "仅此一次显示，之后无法再次查看，请立即复制并妥善保存。",
    ),
    "common.yes": ("Yes", "是"),
    # home: platform health (GET /api/health)
    "home.title": ("Platform health", "平台健康"),
    "home.subtitle": (
        "Which backend each component uses and whether it answers, as GET /api/health reports it.",
        "各组件使用的后端及其是否可用，与 GET /api/health 的结果一致。",
    ),
    "home.refresh": ("Check again", "重新检查"),
    "home.checked_at": ("Checked at", "检查时间"),
    "home.overall.ok": ("All components answer", "所有组件运行正常"),
    "home.overall.degraded": ("Some components do not answer", "部分组件无法访问"),
    "home.checking": ("Checking…", "检查中…"),
    "status.ok": ("OK", "正常"),
    "status.down": ("Down", "故障"),
    "status.off": ("Not running here", "未在此进程运行"),
    "component.database": ("Relational database", "关系数据库"),
    "component.cache": ("Cache", "缓存"),
    "component.object_store": ("Object storage", "对象存储"),
    "component.vectors": ("Vector store", "向量库"),
    "component.metrics": ("Metrics store", "指标存储"),
    "component.compute": ("Compute", "计算资源"),
    "component.controller": ("Controller loop", "控制循环"),
    "field.backend": ("Backend", "后端"),
    "field.target": ("Target", "地址"),
    "field.latency": ("Latency", "延迟"),
    # the guided empty states with one-click samples (issue 20)
    "samples.datasets_intro": (
        "Sample data written for this platform (bilingual medical, illustrative, not clinical advice), one click away:",
        "本平台自带的示例数据（中英文医学内容，仅供演示，不构成诊疗建议），一键导入：",
    ),
    "samples.import_sft": ("Use the sample SFT dataset (200 rows)", "使用示例 SFT 数据集（200 条）"),
    "samples.import_preference": (
        "Use the sample preference dataset for DPO (100 pairs)",
        "使用示例偏好数据集（DPO，100 对）",
    ),
    "samples.kb_intro": (
        "Start with a sample: 20 short medical documents in Chinese and English, indexed with the default "
        "multilingual embedding model.",
        "可从示例开始：20 篇简短的中英文医学文档，使用默认的多语言向量模型建立索引。",
    ),
    "samples.create_kb": (
        "Create the sample medical knowledge base (20 zh/en documents)",
        "创建示例医学知识库（20 篇中英文文档）",
    ),
    "samples.agent_intro": (
        "Start from a template: start → knowledge retrieval → LLM (the starter model) → an answer with citations; "
        "it searches the sample knowledge base when this tenant has it.",
        "可从模板开始：开始 → 知识检索 → 大模型（入门模型）→ 带引用的回答；若本租户已有示例知识库则检索该知识库。",
    ),
    "samples.create_agent": (
        "Create the medical Q&A agent (with citations) from the template",
        "从模板创建医学问答智能体（带引用）",
    ),
    "samples.dataset_created": (
        "Sample dataset {name} imported ({rows} rows).",
        "示例数据集 {name} 已导入（{rows} 条）。",
    ),
    "samples.dataset_exists": (
        "The sample dataset {name} is here already ({rows} rows).",
        "示例数据集 {name} 已存在（{rows} 条）。",
    ),
    "samples.knowledge_base_created": (
        "Sample knowledge base {name} created; its {docs} documents are being indexed.",
        "示例知识库 {name} 已创建，{docs} 篇文档正在建立索引。",
    ),
    "samples.knowledge_base_exists": (
        "The sample knowledge base {name} is here already ({docs} documents).",
        "示例知识库 {name} 已存在（{docs} 篇文档）。",
    ),
    "samples.agent_created": (
        "Agent {name} created from the template “medical knowledge Q&A with citations”: validate and publish it here.",
        "已从模板“带引用的医学知识问答”创建智能体 {name}：请在此校验并发布。",
    ),
    "samples.agent_exists": (
        "The agent {name} is here already: it opens in the builder.",
        "智能体 {name} 已存在，已在编排器中打开。",
    ),
}
