// Finding with its evidence
// Shows: the finding $finding (its parts and evidence are properties of the node), the hosts it is about, and their conversations with each other in the finding's window.
// Parameters: :param finding => 'no-0123456789abcd'
MATCH (f:Finding {id: $finding})-[a:ABOUT]->(h:Host)
OPTIONAL MATCH e = (h)-[:TALKED {window: f.window}]->(:Host)<-[:ABOUT]-(f)
RETURN f, a, h, e
