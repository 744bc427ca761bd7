// Shared by every kernel. Conventions (see lib/runtime/runtime.h, vkdl_kernel; each family's interface header):
//  - push constants begin with one uint per binding: the binding's element offset inside its
//    descriptor range (descriptor offsets must be aligned; tensor views need not be);
//  - large 1-D launches are split into an x/y grid by vkdl_grid_1d, so the linear group index
//    is GROUP_ID below;
//  - workgroup size is specialization constant 0 unless a kernel says otherwise.
#extension GL_EXT_control_flow_attributes : enable

#define GROUP_ID (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x)
#define GLOBAL_ID (GROUP_ID * gl_WorkGroupSize.x + gl_LocalInvocationID.x)

const float LOG2E = 1.4426950408889634;
const float NEG_INF = -1.0 / 0.0;
